"""Ready graphs, installed as `edgespeed.graphs` so `edgespeed run quickstart` works anywhere."""
