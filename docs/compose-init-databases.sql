-- One database per service (docker-compose.yml mounts this into PostgreSQL's init folder).
CREATE DATABASE gateway;
CREATE DATABASE catalog;
CREATE DATABASE orders;
CREATE DATABASE stores;
CREATE DATABASE logistics;
CREATE DATABASE billing;
