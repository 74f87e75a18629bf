-- 0005 the built-in roles every tenant can assign. Data only: the schema does not change.
-- tenant_id NULL marks a built-in role; ON CONFLICT keeps the file safe to run against a
-- database whose roles were created by hand before migrations were introduced.

INSERT INTO app.roles (tenant_id, key, name, description, permissions) VALUES
    (NULL, 'owner',   'Owner',   'Full control, including billing and deleting the tenant.', '{*}'),
    (NULL, 'admin',   'Admin',   'Manages members, teams, projects and integrations.',
        '{members.manage,teams.manage,projects.manage,integrations.manage,tasks.write,tasks.read}'),
    (NULL, 'member',  'Member',  'Works on projects: creates and edits tasks and comments.',
        '{projects.read,tasks.write,tasks.read}'),
    (NULL, 'billing', 'Billing', 'Sees and pays invoices; no access to project data.', '{billing.manage}'),
    (NULL, 'viewer',  'Viewer',  'Read-only access to projects and tasks.', '{projects.read,tasks.read}')
ON CONFLICT ON CONSTRAINT roles_tenant_id_key_key DO NOTHING;
