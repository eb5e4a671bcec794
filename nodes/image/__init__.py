"""Image preprocessing."""
