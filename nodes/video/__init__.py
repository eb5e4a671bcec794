"""Video sources."""
