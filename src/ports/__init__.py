"""The interfaces (typing.Protocol) the use cases need; adapters implement them."""
