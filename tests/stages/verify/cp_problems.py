"""Real competitive-programming problems with hand-written tests and solutions in Python and C++, right and wrong.

Held out: none of these problems or programs were used to build the checkers. Each wrong solution has a bug
people really make (32-bit overflow, floor instead of ceiling, integer division, the edge case w = 2).
"""

THEATRE = {  # Codeforces 1A "Theatre Square": flagstones a x a to cover n x m
    "tests": {"inputs": ["6 6 4\n", "1 1 1\n", "1000000000 1000000000 1\n", "2 1 1\n",
                         "1000000000 1000000000 999999999\n", "13 1 2\n"],
              "outputs": ["4\n", "1\n", "1000000000000000000\n", "2\n", "4\n", "7\n"]},
    "python": "n, m, a = map(int, input().split())\nprint(-(-n // a) * -(-m // a))\n",
    "python_wrong": "n, m, a = map(int, input().split())\nprint((n // a) * (m // a) or 1)\n",
    "cpp": "#include <iostream>\nint main(){long long n,m,a; std::cin>>n>>m>>a;\n"
           "std::cout<<((n+a-1)/a)*((m+a-1)/a)<<std::endl;}\n",
    "cpp_wrong": "#include <iostream>\nint main(){int n,m,a; std::cin>>n>>m>>a;\n"
                 "int r=((n+a-1)/a)*((m+a-1)/a); std::cout<<r<<std::endl;}\n",
}

WATERMELON = {  # Codeforces 4A "Watermelon": split w into two even positive parts?
    "tests": {"inputs": ["8\n", "2\n", "1\n", "100\n", "7\n", "4\n"],
              "outputs": ["YES\n", "NO\n", "NO\n", "YES\n", "NO\n", "YES\n"]},
    "python": "w = int(input())\nprint('YES' if w % 2 == 0 and w > 2 else 'NO')\n",
    "python_wrong": "w = int(input())\nprint('YES' if w % 2 == 0 else 'NO')\n",
    "cpp": "#include <cstdio>\nint main(){int w; scanf(\"%d\",&w); puts(w%2==0&&w>2?\"YES\":\"NO\");}\n",
    "cpp_wrong": "#include <cstdio>\nint main(){int w; scanf(\"%d\",&w); puts(w%2==0?\"YES\":\"NO\");}\n",
}

DRINKS = {  # Codeforces 200B "Drinks": the average share of orange juice (answers within 1e-4 accepted)
    "tests": {"inputs": ["3\n50 50 100\n", "4\n0 25 50 75\n", "3\n0 1 8\n", "5\n100 100 100 100 99\n", "1\n0\n"],
              "outputs": ["66.666666666667\n", "37.500000000000\n", "3.000000000000\n", "99.800000000000\n",
                          "0.000000000000\n"]},
    "python": "n = int(input())\np = list(map(int, input().split()))\nprint(sum(p) / n)\n",
    "python_wrong": "n = int(input())\np = list(map(int, input().split()))\nprint(sum(p) // n)\n",
    "cpp": "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); double s=0; for(int i=0;i<n;i++){int p;"
           "scanf(\"%d\",&p); s+=p;} printf(\"%.7f\\n\", s/n);}\n",
    "cpp_wrong": "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); int s=0; for(int i=0;i<n;i++){int p;"
                 "scanf(\"%d\",&p); s+=p;} printf(\"%d\\n\", s/n);}\n",
}

DIVISORS = {  # print every divisor of n, one per line, in any order
    "tests": {"inputs": ["12\n", "7\n", "1\n", "36\n"],
              "outputs": ["1\n2\n3\n4\n6\n12\n", "1\n7\n", "1\n", "1\n2\n3\n4\n6\n9\n12\n18\n36\n"]},
    "python": "n = int(input())\nfor d in range(n, 0, -1):\n    if n % d == 0:\n        print(d)\n",
    "python_wrong": "n = int(input())\nfor d in range(n - 1, 0, -1):\n    if n % d == 0:\n        print(d)\n",
    "cpp": "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); for(int d=n; d>=1; d--) if(n%d==0) "
           "printf(\"%d\\n\",d);}\n",
    "cpp_wrong": "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); for(int d=n; d>1; d--) if(n%d==0) "
                 "printf(\"%d\\n\",d);}\n",
}

PAIR_SUM = {  # print any two positive integers a, b with a + b = n (n >= 2): many answers, a checker decides
    "tests": {"inputs": ["2\n", "9\n", "1000000\n"], "outputs": ["1 1\n", "1 8\n", "1 999999\n"]},
    "python": "n = int(input())\nprint(n // 2, n - n // 2)\n",
    "python_wrong": "n = int(input())\nprint(n // 2, n // 2)\n",
    "cpp": "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); printf(\"%d %d\\n\", n-1, 1);}\n",
    "cpp_wrong": "#include <cstdio>\nint main(){int n; scanf(\"%d\",&n); printf(\"%d %d\\n\", n, 0);}\n",
    "checker_python": "import sys\nn = int(open(sys.argv[1]).read())\ntry:\n    a, b = map(int, open(sys.argv[2])"
                      ".read().split())\nexcept ValueError:\n    sys.exit(1)\nsys.exit(0 if a >= 1 and b >= 1 and "
                      "a + b == n else 1)\n",
    "checker_cpp": "#include <fstream>\nint main(int c, char** v){std::ifstream in(v[1]), out(v[2]); long long n,a,b;"
                   "in>>n; if(!(out>>a>>b)) return 1; return (a>=1&&b>=1&&a+b==n)?0:1;}\n",
}
