"""The chatflow service."""
