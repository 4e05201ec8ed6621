"""Tests of unseen.evaluation."""
