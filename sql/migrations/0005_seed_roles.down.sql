-- Undo 0005. Fails (memberships_role_id_fkey is ON DELETE RESTRICT) while any member still
-- holds one of these roles, which is the point: reassign members before rolling back.

DELETE FROM app.roles
WHERE tenant_id IS NULL
  AND key IN ('owner', 'admin', 'member', 'billing', 'viewer');
