"""ekuscan: which mutual-TLS links of a Cisco Expressway estate break when public
certificates lose the clientAuth EKU, and when."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ekuscan")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
