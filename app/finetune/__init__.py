"""LoRA/QLoRA fine-tuning for the service (`python -m app.finetune`, `fanyi finetune`): loop.py the
closed loop (prepare, train, save, evaluate), data.py the examples, train.py the training itself."""
