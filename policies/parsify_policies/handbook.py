"""Sections of the operations handbook the policies serve: each policy's compliance framework reference
(the SDK's `framework` field), also used in the compliance summary."""

FRAMEWORK = "Parsify operations handbook"
VERSION = "2026"
SOURCE = "shared/seed/operations-handbook.md"

ACCESS_CONTROL = "Security Best Practices / Access Control"
LEAST_PRIVILEGE = "Security Best Practices / Access Control / Principle of Least Privilege"
MFA = "Security Best Practices / Access Control / Multi-factor Authentication"
TEMPORARY_ACCESS = "Security Best Practices / Access Control / Temporary Access"
BACKUPS = "Efficiency Best Practices / Automation / Automated Backups"
RECOVERY = "Reliability Goals / Recovery Time"
SECURITY_COMPLIANCE = "Security Goals / Security Compliance"
MONITORING = "Reliability Best Practices / Monitoring"
LOG_MANAGEMENT = "Operations Tools / Monitoring Tools / Log Management"

SECTIONS = [ACCESS_CONTROL, LEAST_PRIVILEGE, MFA, TEMPORARY_ACCESS, BACKUPS, RECOVERY, SECURITY_COMPLIANCE,
            MONITORING, LOG_MANAGEMENT]
