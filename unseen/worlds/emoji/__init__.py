"""The emoji world: real artwork (Noto Emoji, Twemoji) by category, a DDPM trained on the categories that are
never targets, and a classifier of the categories."""
