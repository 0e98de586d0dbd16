"""In-memory stand-ins for every port, for unit tests (the StubBroker of this project)."""
