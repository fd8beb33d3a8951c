META
key;value
description;Malformed fixture
country;Testland
unit;Testville
instance;2024
num_projects;2
num_votes;2
budget;100
vote_type;approval
rule;greedy
currency;EUR
PROJECTS
project_id;cost;votes;name
a;10;1;A
a;50;1;A again
VOTES
voter_id;vote
1;a
2;a
