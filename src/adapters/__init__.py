"""Implementations of the ports: databases, brokers, e-mail providers, and in-memory fakes."""
