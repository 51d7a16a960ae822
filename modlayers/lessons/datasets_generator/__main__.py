"""``python -m modlayers.lessons.datasets_generator``: write the datasets, the tokenizer and the datasheet."""

from modlayers.lessons.datasets_generator import main

if __name__ == "__main__":  # importing this module (Sphinx's autosummary does) writes nothing
    main()
