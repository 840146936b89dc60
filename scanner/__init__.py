"""ekuscan: which mutual-TLS links of a Cisco Expressway estate break when public
certificates lose the clientAuth EKU, and when."""

# The one place the version is written: pyproject.toml reads it from here (setuptools' dynamic
# version). importlib.metadata would cost every process ~17 ms of start-up to look it up.
__version__ = "0.2.0"

__all__ = ["__version__"]
