"""Evaluation designs: tables of treated and comparison units built from the outcome tables."""
