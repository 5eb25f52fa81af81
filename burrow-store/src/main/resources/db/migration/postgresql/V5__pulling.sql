-- 'pulling': a create waiting for its image is visible before any host resource exists.
ALTER TABLE vms DROP CONSTRAINT vms_status_check;
ALTER TABLE vms ADD CONSTRAINT vms_status_check CHECK (status IN ('pulling','creating','starting','running','suspending','suspended','resuming','stopping','stopped','hibernating','hibernated','failed','deleting','deleted'));
