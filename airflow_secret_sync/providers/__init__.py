"""One package per provider (spec model, store, marker codec, Airflow hook); :mod:`.registry` lists them."""
