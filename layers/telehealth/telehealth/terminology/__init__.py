"""The code systems the clinic writes with, shipped as curated subsets in this package (each file
says where it comes from): ICD-10-CM for diagnoses (`icd10cm`). Read once per container, on first
use; searched in memory."""
