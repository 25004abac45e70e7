"""Study configs and the study runner (``impact run``)."""
