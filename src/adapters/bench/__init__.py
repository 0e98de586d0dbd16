"""Benchmark-only adapters: the designs Footfall is measured against. Never used in production."""
