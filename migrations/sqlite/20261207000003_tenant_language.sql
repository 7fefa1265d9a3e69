-- The language a tenant's people are spoken to in when their session names none (and, on the
-- page, their browser asks for none otpgate speaks): a primary tag of otpgate's languages, or
-- NULL for English.
ALTER TABLE tenants ADD COLUMN language TEXT;
