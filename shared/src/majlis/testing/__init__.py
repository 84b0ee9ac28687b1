"""majlis.testing."""
