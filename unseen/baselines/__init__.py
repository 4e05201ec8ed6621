"""Baselines the method is compared with that need more than a config: fine-tuning the model on the references
(finetune, `python -m unseen.baselines.finetune`)."""
