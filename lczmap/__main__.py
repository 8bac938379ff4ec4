"""``python -m lczmap`` (also ``torchrun -m lczmap train ...``)."""

from .cli import main

if __name__ == "__main__":
    main()
