"""Tests of unseen.job."""
