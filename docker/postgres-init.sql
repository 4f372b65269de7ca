CREATE ROLE harness LOGIN PASSWORD 'harness';
CREATE DATABASE harness OWNER harness;
CREATE ROLE airflow LOGIN PASSWORD 'airflow';
CREATE DATABASE airflow OWNER airflow;
