"""The broadcast service."""
