"""Scoring samples against held-out images: the feature networks (features), FID/KID (fid), distances, precision and
recall, memorisation (distances), grain, the spectrum's bands (spectrum), redraws of references (redraw), the
few-shot measures (fewshot), intervals, the streaming scorer (scorer) and the new-member goals (goals)."""
