"""The six Lithuania–Belarus road border points (operating country LT, neighbour BY).

Locations are approximate (possibly several km off).
"""

from __future__ import annotations


def _point(id_, name, lt, counterpart, be, lat, lon):
    return {
        "id": id_,
        "name": name,
        "local_names": {"lt": lt, "be": be},
        "countries": ["LT", "BY"],
        "counterpart": counterpart,
        "kind": "road",
        "location": {"lat": lat, "lon": lon},
        "timezone": "Europe/Vilnius",
        "opening_hours": "24/7",
    }


CHECKPOINTS = [
    _point("sumskas", "Šumskas", "Šumskas", "Losha", "Лоша", 54.630, 25.782),
    _point("tverecius", "Tverečius", "Tverečius", "Vidzy", "Відзы", 55.344, 26.602),
    _point("lavoriskes", "Lavoriškės", "Lavoriškės", "Kotlovka", "Котлаўка", 54.717, 25.641),
    _point("raigardas", "Raigardas", "Raigardas", "Privalka", "Прывалка", 53.948, 24.020),
    _point("medininkai", "Medininkai", "Medininkai", "Kamenny Log", "Каменны Лог", 54.538, 25.655),
    _point("salcininkai", "Šalčininkai", "Šalčininkai", "Benyakoni", "Беняконі", 54.262, 25.436),
]
