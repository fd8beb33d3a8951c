META
key;value
description;Synthetic election without a VOTES section, in dollars (test fixture)
country;United States
unit;Testtown
instance;2024
num_projects;3
num_votes;40
budget;1000000
vote_type;approval
rule;greedy
currency;USD
PROJECTS
project_id;cost;votes;name
007;400000;25;Library
8;700000;30;Park
9;300000;12;Bench
