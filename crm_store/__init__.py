"""The CRM: models, keyword-only repository functions, migrations, CSV import and the API."""
