"""BDE's REST API (serengeti-ws RestResource) at /serengeti/api, on ndovu's commands.

Form login at /serengeti/j_spring_security_check gives the JSESSIONID session cookie
every other call needs; bodies and reads use BDE's bean field names. See the README's
"BDE / Serengeti compatibility" section for what is honoured and what is ignored.
"""
