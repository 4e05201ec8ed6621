# unseen: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SHELL  := /bin/bash

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-slow bench tiny-world tiny-ldm emoji-world clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the package with its test tools

demo: setup ## run the default job (tiny world: disk DDPM -> smileys) and print its summary
	$(BIN)/python run.py

test: setup ## run the test suite (under 10 minutes on 2 CPU cores)
	$(BIN)/python -m pytest -q

test-slow: setup ## run the slower checks (marked slow) too
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup ## run the benchmarks (speed ratios, ours vs the naive way): benchmarks/results/cpu.json, README's tables
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.report

tiny-world: setup ## retrain the shipped tiny-world classifier and DDPM (hours on 2 cores; resumable)
	$(BIN)/python -m unseen.worlds.tiny.classifier --out runs/classifier
	$(BIN)/python -m unseen.worlds.tiny.classifier --out runs/classifier --export
	$(BIN)/python -m unseen.worlds.tiny.train_ddpm --out runs/tiny_ddpm
	$(BIN)/python -m unseen.worlds.tiny.train_ddpm --out runs/tiny_ddpm --export
	$(BIN)/python -m unseen.worlds.tiny.measure_model

tiny-ldm: setup ## retrain the shipped tiny-world latent model, model=tiny_ldm (autoencoder + latent UNet on disks; about an hour on 2 cores; resumable)
	$(BIN)/python -m unseen.worlds.tiny.train_ldm --out runs/tiny_ldm
	$(BIN)/python -m unseen.worlds.tiny.train_ldm --out runs/tiny_ldm --export

emoji-world: setup ## retrain the emoji world's classifier and emoji_ddpm (artwork fetched by npm; hours on 2 cores, resumable; on a GPU when one is there)
	$(BIN)/python -m unseen.worlds.emoji.classifier --out runs/emoji_classifier
	$(BIN)/python -m unseen.worlds.emoji.classifier --out runs/emoji_classifier --export
	$(BIN)/python -m unseen.worlds.emoji.train --out runs/emoji_ddpm
	$(BIN)/python -m unseen.worlds.emoji.train --out runs/emoji_ddpm_warm --init runs/emoji_ddpm/ema --steps 6000 --lr 2e-4 --warmup 100
	$(BIN)/python -m unseen.worlds.emoji.train --out runs/emoji_ddpm_warm --export
	$(BIN)/python -m unseen.worlds.emoji.train --out runs/emoji_ddpm_warm2 --init unseen/worlds/emoji/assets/emoji_ddpm --steps 3000 --lr 1e-4 --warmup 100
	$(BIN)/python -m unseen.worlds.emoji.train --out runs/emoji_ddpm_warm2 --export
	$(BIN)/python -m unseen.worlds.emoji.measure_model

clean: ## remove the virtual environment, run outputs and caches
	rm -rf $(VENV) outputs multirun .pytest_cache *.egg-info
