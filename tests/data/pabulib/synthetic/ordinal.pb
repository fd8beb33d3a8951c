META
key;value
description;Synthetic ordinal election (test fixture)
country;Testland
unit;Testville
instance;2024
num_projects;3
num_votes;3
budget;300
vote_type;ordinal
rule;unknown
currency;EUR
PROJECTS
project_id;cost;votes;score;name
r1;200;3;4;Rank one
r2;100;1;3;Rank two
r3;150;2;3;Rank three
VOTES
voter_id;vote
o1;r2,r1,r3
o2;r1
o3;r3,r1
