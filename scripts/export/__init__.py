"""The exporter users run: a diffusers pipeline folder -> an edgepaint bundle
(`python3 -m scripts.export.export_diffusers`), its external-data packer and
int8 graph rewrites."""
