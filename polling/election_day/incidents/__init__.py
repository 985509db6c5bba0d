"""Incidents at polling places: reporting one (``services``), reading them within one's scope and where a report may
be made (``selectors``), and the photo that may go with one (``photos``)."""
