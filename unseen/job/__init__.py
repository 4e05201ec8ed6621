"""The run: the entry points (cli, api) compose and check the config (config, choices, checks) and turn it into typed
specs once; the pipeline runs its stages on them (pipeline, stages, auto), writes (output, latents), caches
inversions (cache), logs (tracking, wandb_offline), summarises sweeps (sweep) and shards over torchrun
(distributed)."""
