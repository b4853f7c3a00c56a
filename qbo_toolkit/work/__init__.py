"""The WORK store: the field-service system of record (clients, items, invoices, payments, company)."""
