"""Sections of the operations handbook the policies serve (used as policy tags and in summaries)."""

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
