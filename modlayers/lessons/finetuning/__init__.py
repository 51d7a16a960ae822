"""Fine-tune a head on the kit's data, from scratch (the tiny model) or from the pretrained encoder.

One module per task; ``python -m modlayers finetune {classification,qa,tagging}`` runs them.
"""
