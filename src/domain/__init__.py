"""Footfall's entities and value objects: pure Python, no I/O, no framework."""
