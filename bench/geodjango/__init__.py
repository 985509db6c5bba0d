"""The lookup a Django shop would build with GeoDjango and PostGIS, for comparison only (bench/national.py).

Never part of the service and never imported by it: its own settings, URLs and WSGI application, served by its own
gunicorn, reading the national data set that bench/national_load.py copies into PostGIS (tables ``bench_*``).
"""
