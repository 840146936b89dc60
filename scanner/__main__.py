"""``python -m scanner`` is ``ekuscan``."""

from scanner.cli import main

if __name__ == "__main__":
    main()
