"""``python -m modlayers.datasets_generator``: write the datasets, the tokenizer and the datasheet."""

from modlayers.datasets_generator import main

main()
