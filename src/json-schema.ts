// The --json outputs of kexec-ts, kdump-ts and vmcore-ts: every top-level object has `schema`, the
// version of these layouts (raised when a field changes meaning or is removed). Field names are
// camelCase; names that come from the kernel (registers, struct members) keep the kernel's spelling.
export const JSON_SCHEMA = 1;
