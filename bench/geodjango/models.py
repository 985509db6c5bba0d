"""The national data set as bench/national_load.py writes it into PostGIS (unmanaged: the benchmark owns the
tables and their GiST indexes)."""

from __future__ import annotations

from django.contrib.gis.db import models


class Place(models.Model):
    name = models.TextField()
    address = models.TextField()
    location = models.PointField(srid=4326)

    class Meta:
        managed = False
        db_table = "bench_place"

    def __str__(self) -> str:
        return self.name


class Precinct(models.Model):
    county_fips = models.TextField()
    code = models.TextField()
    name = models.TextField()
    county_id = models.BigIntegerField()
    county_name = models.TextField()
    polling_place = models.ForeignKey(Place, null=True, on_delete=models.DO_NOTHING, related_name="+")
    boundary = models.MultiPolygonField(srid=4326)

    class Meta:
        managed = False
        db_table = "bench_precinct"

    def __str__(self) -> str:
        return self.name


class Entrance(models.Model):
    polling_place = models.ForeignKey(Place, on_delete=models.DO_NOTHING, related_name="entrances")
    name = models.TextField()
    accessible = models.BooleanField()
    location = models.PointField(srid=4326)

    class Meta:
        managed = False
        db_table = "bench_entrance"

    def __str__(self) -> str:
        return self.name
