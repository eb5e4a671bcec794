"""Package discovery only (everything else is in pyproject.toml).

`nodes/` installs as `edgespeed.nodes` and `graphs/` as `edgespeed.graphs`; setuptools cannot
discover packages through a package-dir mapping from pyproject.toml alone, so list them here.
"""

from setuptools import find_packages, setup

packages = (
    find_packages(include=["edgespeed", "edgespeed.*"])
    + ["edgespeed.nodes"]
    + [f"edgespeed.nodes.{p}" for p in find_packages("nodes")]
    + ["edgespeed.graphs"]
)
setup(packages=packages)
