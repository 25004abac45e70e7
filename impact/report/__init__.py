"""Reports: disclosure control, figures, HTML and PDF rendering."""
